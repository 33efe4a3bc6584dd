"""The benchmark and training sets: what they hold, where they come from, getting them, and
drawing training patches from them.

``manifest`` reads the shipped list of every set (each file's name, size and SHA-256, its
upstream repository, commit and path, the conversion applied, the terms); ``verify`` checks a
folder against it; ``fetch`` downloads a set from its pinned source or a mirror and puts it in
place only once every file checks; ``store`` prepares a large training set (DIV2K, Flickr2K,
the Waterloo Exploration set) as memory-mapped arrays that training reads without decoding;
``patches`` holds training images in memory and draws reproducible patch batches from them
(training and the int8 calibration both use it); ``overlap`` finds training images that share
pixels with a test set. May import ``csrnet.errors`` and ``csrnet.protocol``; no torch.
"""
