"""Features: safe image decoding, the ONNX backbone, one pass -> raw features, facet transforms."""
