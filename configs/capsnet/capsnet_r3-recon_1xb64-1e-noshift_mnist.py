# The one-epoch schedule without the random shift: in a single epoch every
# image is seen once, so the shift makes the task harder without yet paying
# off as augmentation.
_base_ = ['./capsnet_r3-recon_1xb64-1e_mnist.py']

train_pipeline = [dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
