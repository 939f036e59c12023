from .margin_loss import MarginLoss, labels_to_targets
from .reconstruction_loss import ReconstructionLoss
from .spread_loss import SpreadLoss

__all__ = ['MarginLoss', 'ReconstructionLoss', 'labels_to_targets',
           'SpreadLoss']
