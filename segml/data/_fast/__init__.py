"""The optional speed kernels of the data layer (see :mod:`segml.data._fast.encode`)."""
