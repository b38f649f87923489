"""All of Argus's verl knowledge: trees and their interpreters, each tree's layout read from its
own config, the keys Argus owns and seals, composing overrides, verl's checkpoint layout and the
failure patterns of its runs.

No module outside this package names a verl config key; taskspec compiles from the
:class:`taskspec.verl.VerlLayout` this package reads.
"""
