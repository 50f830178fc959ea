"""The dark-matter pulse challenge: simulated CRESST-type detector data, submissions and their metric.

- ``challenge.detector``: the pulse templates and the noise spectrum of the simulated detector.
- ``challenge.simulate``: draws labelled pulse records, vectorised and deterministic for a seed.
- ``challenge.hidden_detector``: the organizers' detector, drawn from the secret within the priors.
- ``challenge.data``: writes and reads the ROOT files (``load``, chunked iteration, a torch ``Dataset``).
- ``challenge.secret``: the 128-bit secret of a challenge, from which everything random is derived.
- ``challenge.records``: labelled records in batches, their file format and ROOT metadata.
- ``challenge.splitting``: event ids, the shuffle and the public/private split, drawn from the secret.
- ``challenge.references``: the reference scores on the test records (data card AUCs, the ceiling).
- ``challenge.settings``: the public settings (challenge.json) and the rule on training data.
- ``challenge.datacard``: the data card (DATACARD.md).
- ``challenge.package``: writes labelled records from any source as a challenge folder.
- ``challenge.generate``: makes a simulated challenge: the organizers' detector's records, packaged.
- ``challenge.importer``: reads labelled records from cait HDF5, torch, npz and HDF5 files, packaged.
- ``challenge.likelihood``: the physics reference, a likelihood ratio marginalised over nuisances.
- ``challenge.matched_filter``: template fits (the plain matched filter), noise and template learning.
- ``challenge.submission``: reads and validates a submission file; the one validator everybody uses.
- ``challenge.metrics``: score types: ROC AUC (DeLong) and background efficiency (bootstrap).
- ``challenge.scoring``: scores a submission against the answer key, per split.
- ``challenge.model``: the model contract of model submissions (ONNX) and its static check.
- ``challenge.sandbox``: scores a model file in a confined child process (``challenge.onnx_runner``).
- ``challenge.cli``: the ``challenge`` command line.
"""

__version__ = "0.1.0"
