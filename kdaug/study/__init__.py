"""Studies: a set of training arms run over several seeds, summarised with spreads
(kdaug compare and kdaug study PROPERTY are both studies)."""
