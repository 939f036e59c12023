"""Put numpy's array-building names on torch's allow-list, as other code
in a process may (mmcaps itself once did): run by tool_driver.py before
the tools whose loads must set them aside."""
import numpy as np
import torch

core = np._core if hasattr(np, '_core') else np.core
torch.serialization.add_safe_globals([
    core.multiarray._reconstruct, np.ndarray, np.dtype,
    type(np.dtype('O'))
])
