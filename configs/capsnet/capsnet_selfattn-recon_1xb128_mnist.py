# The paper CapsNet with Efficient-CapsNet's self-attention routing
# (Mazzia et al. 2021) in place of dynamic routing: one non-iterative pass,
# 10 x 1152 learned log priors (8,227,088 parameters), and the routing's
# squash_efficient on the class capsules. PrimaryCaps keep Sabour's squash.
_base_ = ['./capsnet_r3-recon_1xb128_mnist.py']
model = dict(
    head=dict(
        routing=dict(_delete_=True, type='SelfAttentionRouting'),
        # The votes of 1152 capsules are summed without normalisation: W of
        # std 0.1 saturates every class capsule.
        init_std=0.01))
