# 1 routing iteration + reconstruction (Table 1, 0.29%).
_base_ = ['./capsnet_r3-recon_1xb128_mnist.py']
model = dict(head=dict(routing=dict(num_iterations=1)))
