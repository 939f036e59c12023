# The paper CapsNet with Efficient-CapsNet's self-attention routing
# (Mazzia et al. 2021) in place of dynamic routing: one non-iterative pass,
# 10 x 1152 learned log priors (8,227,088 parameters), and the routing's
# squash_efficient on the class capsules. PrimaryCaps keep Sabour's squash.
_base_ = ['./capsnet_r3-recon_1xb128_mnist.py']
model = dict(
    head=dict(
        routing=dict(_delete_=True, type='SelfAttentionRouting'),
        # W of std 0.01: the votes of 1152 capsules are summed without
        # normalisation, and with CapsuleLayer's std 0.1 every class
        # capsule saturated (9.78 % after 313 steps; 0.01: see the README).
        init_cfg=dict(
            type='TruncNormal',
            std=0.01,
            a=-0.02,
            b=0.02,
            override=dict(name='capsules'))))
