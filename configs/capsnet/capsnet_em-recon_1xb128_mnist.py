# The paper CapsNet (Sabour et al., 2017) with EM routing (Hinton et al.,
# 2018) in DigitCaps instead of routing-by-agreement: the prediction vectors
# are the votes, the PrimaryCaps lengths the input activations, and each
# class capsule is a_j * mu_j / |mu_j| (its length is the EM activation), so
# the margin loss and the reconstruction decoder are unchanged.
# 3 EM iterations. final_lambda is 10x below the authors' 0.01 (used in the
# matrix-capsule layers): each class capsule here collects 1152 votes, not
# the at most 144 of the matrix-capsule model's layers, and the cost grows with
# sum_i R_ij a_i; with 0.01 all ten activations saturate near 1 within a
# few Adam steps (see README.md, "EM routing in DigitCaps").
# 8,215,588 parameters (the r3-recon model's + beta_u, beta_a per class).
_base_ = ['./capsnet_r3-recon_1xb128_mnist.py']
model = dict(
    head=dict(
        routing=dict(
            _delete_=True,
            type='EMRouting',
            num_iterations=3,
            final_lambda=0.001,
            lambda_decay=0.95)))
