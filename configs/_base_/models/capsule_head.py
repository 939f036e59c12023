# The capsule head that the *_capsule.py model bases put on their trunks:
# PrimaryCapsNeck makes `capsule_types` types of 8-D capsules at each
# position of the trunk's feature map; DigitCapsHead routes them (dynamic
# routing, 3 iterations, margin loss) to one 16-D capsule per class. A model
# base adds what depends on its trunk: the map's channels and size, the
# classes, a decoder, W's sharing and initialisation.
capsule_types = 32
capsule_neck = dict(
    type='PrimaryCapsNeck', num_types=capsule_types, capsule_dim=8)
capsule_head = dict(
    type='DigitCapsHead',
    in_dim=8,
    out_dim=16,
    routing=dict(type='DynamicRouting', num_iterations=3))
