"""The benchmark and training sets: what they hold, where they come from, and getting them.

``manifest`` reads the shipped list of every set (each file's name, size and SHA-256, its
upstream repository, commit and path, the conversion applied, the terms); ``verify`` checks a
folder against it; ``fetch`` downloads a set from its pinned source or a mirror and puts it in
place only once every file checks; ``store`` prepares a large training set (DIV2K, Flickr2K,
the Waterloo Exploration set) as memory-mapped arrays that training reads without decoding.
May import ``csrnet.errors`` and ``csrnet.protocol``; no torch.
"""
