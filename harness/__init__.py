"""srbench harness: reproduce single-image super-resolution paper tables cell by cell.

Data flows one way: suite file -> entries -> (obtain model: compute / load / train) -> measure -> cells
-> results JSON -> report / charts / drift.  Each step is its own module.
"""

__version__ = "0.1.0"
