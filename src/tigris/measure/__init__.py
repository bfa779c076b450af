"""`tigris measure`: time a GPU (or, for tests, the CPU) into the schema of ../shared/measured.

`grid` says which shapes, `harness` holds the torch side (device, timer, power meter,
kernels), `layer` a decoder layer in torch, `collective` the multi-process NCCL runs,
`tables` the schemas and the resumable writer, and `run` ties them together. torch is an
optional extra (`pip install 'tigris[measure]'`); nothing here imports it at module level.
"""
