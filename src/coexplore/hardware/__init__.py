"""The hardware side: FPGA devices, the tiled accelerator template and the pipeline model.

Nothing under this package imports torch; a test enforces it.
"""
