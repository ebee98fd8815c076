"""Pure-Python domain core: the numbers of PRODUCT.md section 4. No Django import here."""
