from conftest import CONFIGS, ROOT

from pfsim.config_docs import render


def test_config_reference_is_current():
    assert (CONFIGS / "README.md").read_text() == render(), "regenerate: python -m pfsim.config_docs > configs/README.md"


def test_readme_has_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    assert "pfsim run configs/" in text and "python -m pytest" in text
    assert "python -m pytest" in (ROOT / ".ci" / "run").read_text()
