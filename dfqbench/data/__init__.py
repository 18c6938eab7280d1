"""Datasets: the embedded Fashion-MNIST and ImageNet-style image folders."""

from dfqbench.data.fashion_mnist import FashionMNIST, load_fashion_mnist, resolve_data_dir

__all__ = ["FashionMNIST", "load_fashion_mnist", "resolve_data_dir"]
