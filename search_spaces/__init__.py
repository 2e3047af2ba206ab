"""What can be built: the ArchSpec, the PyTorch building blocks, the builder and the spaces."""
