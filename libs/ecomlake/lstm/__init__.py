"""The multi-task sequence model (LSTM) on ``ecomlake.sequences``' dataset, and its distributed training.

- ``model``: ``SequenceModel`` (embeddings + LSTM + three heads), the multi-task loss, checkpoints, ``predict``;
- ``readers``: one batch interface over petastorm, plain pyarrow or preloaded tensors, sharded by row group,
  with the delivered-row check (``RowShortfallError``);
- ``distributed``: ``Comm``, one interface over Horovod and torch.distributed, so one training loop serves both;
- ``train``: ``TrainSpec`` and ``train_worker``, the loop every process runs (resume, early stopping, checkpoints);
- ``launch``: ``horovod.spark.run``, ``horovodrun`` or Spark's ``TorchDistributor`` from the driver;
- ``worker``: the ``python -m ecomlake.lstm.worker <spec.json>`` entry point horovodrun starts;
- ``metrics``: accuracy, F1 and ROC-AUC in numpy.

The jobs drive these from Spark: ``train_job`` (``ecomlake train-lstm``, with ``evaluate``: the test metrics beside the
baselines) and ``score_job`` (``ecomlake score-lstm``, with ``scoring``: sequences through the model in mapInPandas).
"""

MODEL = "lstm"  # the model's name in ml.model_runs and under <lake.root>/models/
