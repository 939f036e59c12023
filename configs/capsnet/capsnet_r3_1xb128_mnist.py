# 3 routing iterations, no reconstruction (Table 1, 0.35%).
_base_ = ['./capsnet_r3-recon_1xb128_mnist.py']
model = dict(head=dict(decoder=None))
