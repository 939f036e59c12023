from .checkpoint import (MAX_DOWNLOAD_BYTES, TRUSTED_CHECKPOINTS_ENV,
                         BadCheckpointError, UnsafeCheckpointError,
                         download_checkpoint, load_checkpoint_file,
                         load_model_weights, register_checkpoint_loader,
                         trusted_checkpoints)
from .dist import end_distributed_run, setup_cpu_distributed
from .fileio import atomic_path, download_file, fsync_dir, md5sum
from .plain_checkpoint import (PLAIN_TYPE_KEY, from_plain,
                               save_plain_checkpoint, to_plain)
from .profiling import peak_cpu_allocated

__all__ = [
    'MAX_DOWNLOAD_BYTES', 'TRUSTED_CHECKPOINTS_ENV', 'BadCheckpointError',
    'UnsafeCheckpointError', 'download_checkpoint', 'load_checkpoint_file',
    'load_model_weights', 'register_checkpoint_loader', 'trusted_checkpoints',
    'setup_cpu_distributed', 'end_distributed_run', 'atomic_path',
    'download_file', 'fsync_dir',
    'md5sum', 'PLAIN_TYPE_KEY', 'from_plain', 'save_plain_checkpoint',
    'to_plain', 'peak_cpu_allocated'
]
