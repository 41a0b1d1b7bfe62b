"""The names of the view families (kdaug.augment.plan says what each is), importable by the
CLI and the method catalog without numpy."""
FAMILIES = ("plain", "jda", "rotation", "rotation-crop")
