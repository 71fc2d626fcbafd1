"""The candidate classifiers (MLlib pipelines), their probabilities and their feature importances.

Every candidate is one Pipeline: the NULL preparation (``dataset.preparation``), a VectorAssembler and
the classifier, trained on ``label`` with the class ``weight``. Logistic regression gets standardised
inputs (StandardScaler with mean and std; a constant column scales to 0 and gets no weight), so its
coefficients compare across features; the tree models take the raw values.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, LogisticRegressionModel, RandomForestClassifier
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ecomlake import artifacts
from ecomlake.config import PropensityConfig
from ecomlake.propensity.dataset import FEATURE_PREFIX, preparation, prepared_names

LR_MAX_ITER = 100
GBT_STEP_SIZE = 0.1


def candidate(model_type: str, features: Sequence[str], config: PropensityConfig) -> Pipeline:
    """The unfitted pipeline of one candidate (``logistic_regression``, ``random_forest`` or ``gbt``)."""
    assembler = VectorAssembler(inputCols=[FEATURE_PREFIX + n for n in prepared_names(features)], outputCol="features")
    if model_type == "logistic_regression":
        scaler = StandardScaler(inputCol="features", outputCol="scaled_features", withMean=True, withStd=True)
        lr = LogisticRegression(
            labelCol="label", weightCol="weight", featuresCol="scaled_features", regParam=config.reg_param, maxIter=LR_MAX_ITER, standardization=False
        )
        return Pipeline(stages=[preparation(features), assembler, scaler, lr])
    if model_type == "random_forest":
        rf = RandomForestClassifier(
            labelCol="label", weightCol="weight", featuresCol="features", numTrees=config.trees, maxDepth=config.max_depth, seed=config.seed
        )
        return Pipeline(stages=[preparation(features), assembler, rf])
    if model_type == "gbt":
        gbt = GBTClassifier(
            labelCol="label", weightCol="weight", featuresCol="features", maxIter=config.trees, maxDepth=config.max_depth, stepSize=GBT_STEP_SIZE,
            seed=config.seed,
        )  # fmt: skip
        return Pipeline(stages=[preparation(features), assembler, gbt])
    raise ValueError(f"unknown model type {model_type!r}")


def fit(pipeline: Pipeline, train: DataFrame, scratch: str) -> PipelineModel:
    """Fit ``pipeline`` on ``train``, save it to the folder ``scratch`` and return the reloaded model.

    A reloaded model carries no training summary, and that is the point: in Spark 4.0, the summaries
    of logistic regression and random forest hold the SparkSession, which cannot be serialized once
    the session has used an Observation (any ``DataFrame.observe``, e.g. in a notebook; ecomlake's own
    jobs no longer use one); every later ``transform`` of such a model then fails with "Task not
    serializable: ObservationManager" (seen upstream as GoogleCloudDataproc/spark-bigquery-connector#1455).

    The folder is hashed as saved and checked again once loaded: the model's SQLTransformer statement is what this
    run fitted, not something written into the scratch folder in between (ecomlake.artifacts).
    """
    pipeline.fit(train).write().overwrite().save(scratch)
    written = artifacts.scan(scratch)
    model = PipelineModel.load(scratch)
    artifacts.verify(scratch, written, what="the fitted candidate", recover="Re-run the training.", source="written by this run")
    return model


def with_raw_probability(scored: DataFrame) -> DataFrame:
    """``raw_probability``: the classifier's probability of the positive class, from its ``probability`` vector."""
    return scored.withColumn("raw_probability", vector_to_array(F.col("probability")).getItem(1))


def importances(model: PipelineModel, features: Sequence[str], top: int) -> list[tuple[str, float]]:
    """The ``top`` most important prepared inputs as (name, share of the total), largest first; zero shares left out.

    Trees: MLlib's impurity-based featureImportances. Logistic regression: |coefficient| on standardised inputs.
    """
    names = prepared_names(features)
    classifier = next(s for s in model.stages if hasattr(s, "featureImportances") or isinstance(s, LogisticRegressionModel))
    if isinstance(classifier, LogisticRegressionModel):
        weights = [abs(float(w)) for w in classifier.coefficients.toArray()]
    else:
        weights = [float(w) for w in classifier.featureImportances.toArray()]
    total = sum(weights)
    ranked = sorted(((n, w / total) for n, w in zip(names, weights, strict=True) if w > 0), key=lambda nw: (-nw[1], nw[0])) if total else []
    return ranked[:top]
