"""The checker's steps, one module per lesson (``lessonN.STEPS``), and helpers they share."""
