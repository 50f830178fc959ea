"""Reference solutions, one runnable percent-cell script per lesson; the skeletons are made from them."""
