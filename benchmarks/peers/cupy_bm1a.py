"""The plain NumPy BM1a script (numpy_bm1a.py), unchanged, on CuPy arrays:
python cupy_bm1a.py [--n 2048] [--steps K]"""

import cupy as cp
from numpy_bm1a import main

if __name__ == "__main__":
    main(cp, lambda: cp.cuda.get_current_stream().synchronize())
