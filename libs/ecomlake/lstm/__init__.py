"""The multi-task sequence model (LSTM) on ``ecomlake.sequences``' dataset, and its distributed training.

- ``model``: ``SequenceModel`` (embeddings + LSTM + three heads), the multi-task loss, checkpoints, ``predict``;
- ``readers``: one batch interface over petastorm, plain pyarrow or preloaded tensors, sharded by row group,
  with the delivered-row check (``RowShortfallError``);
- ``distributed``: ``Comm``, one interface over Horovod and torch.distributed, so one training loop serves both;
- ``train``: ``TrainSpec`` and ``train_worker``, the loop every process runs (resume, early stopping, checkpoints);
- ``launch``: ``horovod.spark.run``, ``horovodrun`` or Spark's ``TorchDistributor`` from the driver;
- ``worker``: the ``python -m ecomlake.lstm.worker <spec.json>`` entry point horovodrun starts;
- ``metrics``: accuracy, F1 and ROC-AUC in numpy.

The ``train-lstm`` / ``score-lstm`` jobs (``job``, ``evaluate``, ``scoring``, ``schemas``) drive these from Spark.
"""
