"""The data: the full MNIST, MultiMNIST pairs, Fashion-MNIST and folders of images; preprocessing a drawn digit
to what MNIST looks like; transforms of the network's input and training augmentation."""
