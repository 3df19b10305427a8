"""The MuJo-SF benchmark of a built MAVP (paper sections III-C and IV): the joint model, its
text-only and image-only baselines, Table VII and the Table VIII ablation, JGA / SA with
paired bootstrap intervals and paired t-tests, and what dropping unreliable image labels does
downstream."""
