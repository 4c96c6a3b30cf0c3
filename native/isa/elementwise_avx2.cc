// placeholder: filled by the ISA-specific kernels
