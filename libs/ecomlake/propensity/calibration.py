"""Calibration: isotonic regression from a classifier's probability to the observed positive rate.

Class weighting pulls a classifier's probabilities towards 0.5, so they are not the chance of the
event. MLlib's IsotonicRegression, fitted on the validation users (not the ones the classifier was
trained on), maps the raw probability to a non-decreasing step function of the observed rate: it
keeps the ranking (up to ties) and gives probabilities whose mean matches the positive rate. It is
appended to the classifier's pipeline, so the saved model outputs both.
"""

from __future__ import annotations

from pyspark.ml import PipelineModel
from pyspark.ml.regression import IsotonicRegression
from pyspark.sql import DataFrame

CALIBRATED = "calibrated_probability"


def calibrated(model: PipelineModel, validation: DataFrame) -> PipelineModel:
    """``model`` followed by an isotonic calibration fitted on ``validation`` (rows with ``label``, unweighted).

    The result adds ``calibrated_probability`` (a double in [0, 1]) to what ``model`` outputs.

    Example:
        >>> calibrated(model, validation_rows).transform(users).select("calibrated_probability")  # doctest: +SKIP
    """
    isotonic = IsotonicRegression(featuresCol="probability", featureIndex=1, labelCol="label", predictionCol=CALIBRATED, isotonic=True)
    return PipelineModel(stages=[*model.stages, isotonic.fit(model.transform(validation))])
