"""The wheel carries librnnkit.so, native code but no Python extension: it is installed as platform code
(Tools/release has auditwheel turn the linux_x86_64 tag into a manylinux one) and serves every Python 3."""
from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.dist import Distribution


class NativeDistribution(Distribution):
    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    def get_tag(self):
        return "py3", "none", super().get_tag()[2]


setup(distclass=NativeDistribution, cmdclass={"bdist_wheel": PlatformWheel})
