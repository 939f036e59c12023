from .margin_loss import MarginLoss
from .reconstruction_loss import ReconstructionLoss
from .spread_loss import SpreadLoss

__all__ = ['MarginLoss', 'ReconstructionLoss', 'SpreadLoss']
