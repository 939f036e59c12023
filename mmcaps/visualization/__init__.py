"""Drawings of what capsules learn: reconstructions, perturbed capsule
dimensions and routing coupling coefficients, as RGB ``uint8`` arrays
(numpy and OpenCV only), for ``tools/visualization`` and
:class:`~mmcaps.engine.ReconstructionVisualizationHook`."""
from .figures import (coupling_figure, coupling_maps, perturbation_figure,
                      reconstruction_figure, reconstruction_tile)
from .grid import TEXT_HEIGHT, concat_images, image_grid, text_image
from .heatmap import colour_bar, heat_levels, heat_map
from .image import (OVERLAY_COLOURS, colour_overlay, to_numpy, to_rgb, upscale,
                    write_png)
from .inference import (CapsuleOutputs, capsule_outputs, load_model,
                        load_samples, perturbation_values,
                        perturbed_reconstructions, reconstruct_top,
                        require_reconstruction, sample_labels)
from .tools import draw_reconstructions, vis_tool_parser

__all__ = [
    'CapsuleOutputs', 'OVERLAY_COLOURS', 'TEXT_HEIGHT', 'capsule_outputs',
    'colour_bar', 'colour_overlay', 'concat_images', 'coupling_figure',
    'draw_reconstructions', 'vis_tool_parser',
    'coupling_maps', 'heat_levels', 'heat_map', 'image_grid', 'load_model',
    'load_samples', 'perturbation_figure', 'perturbation_values',
    'perturbed_reconstructions', 'reconstruct_top', 'reconstruction_figure',
    'reconstruction_tile', 'require_reconstruction', 'sample_labels',
    'text_image', 'to_numpy', 'to_rgb', 'upscale', 'write_png'
]
