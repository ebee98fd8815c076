"""The demo organisation: the worked examples of PRODUCT.md section 7."""
