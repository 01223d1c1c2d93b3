"""setuptools entry: the cffi extension h7._libbpf is built from _build/build_libbpf.py.

The BPF object must be compiled first (``make bpf``): the extension embeds the
bpftool skeleton, so nothing is looked up on disk at run time.
"""

from setuptools import setup

setup(cffi_modules=["_build/build_libbpf.py:ffibuilder"])
