"""The reference design's public API as its documentation and observed behaviour describe it,
on scoring.compat: keywords, model kinds, column labels, members and their absence, output
conventions, lazy fitting, and agreement between training-time and scoring-time explainers.

Values are checked against ground truth: brute-force Shapley values over the reference's own
background (`shap.kmeans` of the initialization rows, 10 weighted centroids), the closed form
for linear models, additivity everywhere.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import shap
from sklearn.datasets import load_iris, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.svm import SVC

from scoring.compat import (
    CompatValueError,
    ExplainParams,
    InterpretData,
    KernelScoringExplainer,
    LGBMExplainableModel,
    MimicExplainer,
    ModelTask,
    PFIExplainer,
    SamplingPolicy,
    TabularExplainer,
)
from tests.scoring.ground_truth import shapley_table


@pytest.fixture(scope="module")
def iris():
    data = load_iris()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.target))
    train, test = order[:120], order[120:]
    features = [n.replace(" (cm)", "") for n in data.feature_names]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True), deprecated in sklearn 1.9
        model = SVC(gamma=0.1, probability=True, random_state=0).fit(data.data[train], data.target[train])
    return {
        "x_train": data.data[train],
        "x_test": data.data[test][:8],
        "y_train": data.target[train],
        "y_test": data.target[test][:8],
        "features": features,
        "classes": list(data.target_names),
        "model": model,
    }


@pytest.fixture(scope="module")
def svc_explainer(iris):
    return TabularExplainer(
        iris["model"], iris["x_train"], features=iris["features"], classes=iris["classes"]
    )


# -- ground truth: the reference's method and background ---------------------------------------
def test_black_box_values_are_exact_shapley_values_over_the_reference_background(iris, svc_explainer):
    summary = shap.kmeans(iris["x_train"], 10)
    truth, base = shapley_table(iris["model"].predict_proba, iris["x_test"], summary.data, summary.weights)
    explanation = svc_explainer.explain_local(iris["x_test"])
    values = np.array(explanation.local_importance_values)  # (K, n, M), the reference's layout
    assert explanation.method == "shap.kernel"
    assert np.allclose(values, np.moveaxis(truth, 2, 0), atol=1e-6)
    assert np.allclose(explanation.expected_values, base, atol=1e-9)
    # additivity: expected value + sum of a row's values = the model's probability
    assert np.allclose(values.sum(axis=2).T + base, iris["model"].predict_proba(iris["x_test"]), atol=1e-6)


def test_linear_models_have_the_closed_form(iris):
    model = LogisticRegression(max_iter=500).fit(iris["x_train"], iris["y_train"])
    explanation = TabularExplainer(model, iris["x_train"]).explain_local(iris["x_test"])
    values = np.array(explanation.local_importance_values)
    mean = iris["x_train"].mean(axis=0)
    closed = (iris["x_test"] - mean)[None, :, :] * model.coef_[:, None, :]  # (K, n, M) in log-odds
    assert explanation.method == "shap.linear" and np.allclose(values, closed)


# -- cost and consistency ---------------------------------------------------------------------
def test_construction_returns_at_once_and_fits_on_first_use(iris):
    # no clock here: test_compat_models counts the model's calls and captures the progress bar
    explainer = TabularExplainer(iris["model"], iris["x_train"], classes=iris["classes"])
    assert explainer._explainer is None
    explainer.explain_local(iris["x_test"][:1])
    assert explainer._explainer is not None


def test_scoring_explainer_serves_the_training_time_explainer(iris, svc_explainer):
    local = svc_explainer.explain_local(iris["x_test"])
    scoring = KernelScoringExplainer(svc_explainer)
    assert scoring.bundle_.explainer is svc_explainer.explainer_
    assert np.allclose(scoring.explain(iris["x_test"]), local.local_importance_values)


# -- constructor keywords with the reference's meaning ----------------------------------------
def test_reference_keywords_are_accepted_and_mean_what_they_meant(iris):
    explainer = TabularExplainer(
        iris["model"],
        iris["x_train"],
        explain_subset=[2, 3],
        features=iris["features"],
        classes=iris["classes"],
        model_task=ModelTask.Classification,
        use_gpu=False,
    )
    explanation = explainer.explain_global(
        iris["x_test"], sampling_policy=SamplingPolicy(allow_eval_sampling=True)
    )
    assert explanation.features == ["petal length", "petal width"]
    assert np.array(explanation.local_importance_values).shape == (3, 8, 2)
    with pytest.raises(TypeError):
        TabularExplainer(iris["model"], iris["x_train"], no_such_option=True)
    with pytest.raises(ValueError, match="does not define predict_proba"):
        TabularExplainer(
            SVC().fit(iris["x_train"], iris["y_train"]), iris["x_train"], classes=iris["classes"]
        )


def test_model_task_regression_explains_predict(iris):
    X, y = make_regression(n_samples=60, n_features=3, random_state=0)
    model = LinearRegression().fit(X, y)
    explanation = TabularExplainer(model, X, model_task="regression").explain_local(X[:4])
    values = np.array(explanation.local_importance_values)
    assert values.shape == (4, 3)
    assert np.allclose(values.sum(axis=1) + explanation.expected_values[0], model.predict(X[:4]))


# -- models that are not scikit-learn estimators ------------------------------------------------
class ListModel:
    """predict / predict_proba returning plain lists, no scikit-learn tags."""

    def __init__(self, model):
        self.model = model

    def predict(self, X):
        return self.model.predict(X).tolist()

    def predict_proba(self, X):
        return self.model.predict_proba(X).tolist()


class FrameModel(ListModel):
    def predict_proba(self, X):
        return pd.DataFrame(self.model.predict_proba(X))


@pytest.mark.parametrize("wrap", [ListModel, FrameModel])
def test_models_returning_lists_or_frames_explain_like_the_estimator(iris, svc_explainer, wrap):
    reference = np.array(svc_explainer.explain_local(iris["x_test"]).local_importance_values)
    explanation = TabularExplainer(wrap(iris["model"]), iris["x_train"], classes=iris["classes"])
    assert np.allclose(
        explanation.explain_local(iris["x_test"]).local_importance_values, reference, atol=1e-9
    )


def test_a_function_with_is_function(iris, svc_explainer):
    reference = np.array(svc_explainer.explain_local(iris["x_test"]).local_importance_values)
    function = TabularExplainer(iris["model"].predict_proba, iris["x_train"], is_function=True)
    assert np.allclose(function.explain_local(iris["x_test"]).local_importance_values, reference, atol=1e-9)
    with pytest.raises(ValueError, match="function was predict, not predict_proba"):
        TabularExplainer(iris["model"].predict, iris["x_train"], is_function=True, classes=iris["classes"])


# -- column labels --------------------------------------------------------------------------------
def test_integer_column_labels_and_positional_transformations(iris):
    frame = pd.DataFrame(iris["x_train"])  # columns 0..3, integers
    model = LogisticRegression(max_iter=500).fit(frame, iris["y_train"])
    explanation = TabularExplainer(model, frame).explain_global(pd.DataFrame(iris["x_test"]))
    assert explanation.features == [0, 1, 2, 3]
    assert set(explanation.get_ranked_global_names()) == {0, 1, 2, 3}

    from sklearn.preprocessing import StandardScaler

    scalers = [([j], StandardScaler().fit(iris["x_train"][:, [j]])) for j in range(4)]
    scaled = np.hstack([s.transform(iris["x_train"][:, [j]]) for (j,), s in scalers])
    inner = LogisticRegression(max_iter=500).fit(scaled, iris["y_train"])
    raw = TabularExplainer(inner, iris["x_train"], transformations=scalers, features=iris["features"])
    explained = raw.explain_local(iris["x_test"])
    assert explained.is_raw and explained.features == iris["features"]


# -- output conventions --------------------------------------------------------------------------
def test_a_single_row_gives_one_dimensional_values_per_class(iris, svc_explainer):
    single = svc_explainer.explain_local(iris["x_test"][0])
    assert np.array(single.local_importance_values).shape == (3, 4)
    assert np.array(single.get_ranked_local_names()).shape == (3, 4)
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    regression = TabularExplainer(LinearRegression().fit(X, y), X).explain_local(X[0])
    assert np.array(regression.local_importance_values).shape == (3,)


def test_default_names_are_indexes_and_ties_rank_the_later_feature_first(iris):
    X = np.column_stack([iris["x_train"], np.zeros(120), np.zeros(120)])  # two features never used
    model = LogisticRegression(max_iter=500).fit(X, iris["y_train"])
    model.coef_[:, 4:] = 0.0
    explanation = TabularExplainer(model, X).explain_global(
        np.column_stack([iris["x_test"], np.zeros((8, 2))])
    )
    assert explanation.features is None
    ranked = explanation.get_ranked_global_names()
    assert ranked[-2:] == [5, 4]  # equal (zero) importance: the later feature first, as the reference
    assert explanation.global_importance_rank == ranked


def test_plain_model_explanations_are_neither_raw_nor_engineered(iris, svc_explainer):
    explanation = svc_explainer.explain_global(iris["x_test"])
    assert not explanation.is_raw and not explanation.is_engineered


# -- members, and their absence -----------------------------------------------------------------
def test_members_of_a_classification_explanation(iris, svc_explainer):
    explanation = svc_explainer.explain_global(iris["x_test"])
    assert explanation.num_classes == 3 and explanation.num_features == 4 and explanation.num_examples == 8
    assert list(explanation.classes) == iris["classes"]
    assert np.allclose(explanation.eval_data, iris["x_test"])
    assert list(explanation.eval_y_predicted) == list(iris["model"].predict(iris["x_test"]))
    assert np.allclose(explanation.eval_y_predicted_proba, iris["model"].predict_proba(iris["x_test"]))
    assert np.allclose(explanation.init_data, iris["x_train"])
    overall = explanation.data(key=-1)
    assert InterpretData.OVERALL in overall and len(overall[InterpretData.SPECIFIC]) == 8
    assert explanation.data(0)[InterpretData.NAMES] == iris["features"]
    assert explanation.data()[InterpretData.SCORES] == explanation.global_importance_values
    assert explanation.get_feature_importance_dict(top_k=2).keys() == {"petal length", "petal width"}


def test_absent_members_are_attribute_errors_so_hasattr_works(iris):
    X, y = make_regression(n_samples=40, n_features=3, random_state=0)
    regression = TabularExplainer(LinearRegression().fit(X, y), X).explain_global(X[:5], include_local=False)
    for member in ("classes", "num_classes", "per_class_values", "local_importance_values", "num_examples"):
        assert not hasattr(regression, member), member
    assert hasattr(regression, ExplainParams.EXPECTED_VALUES)
    pfi = PFIExplainer(LinearRegression().fit(X, y)).explain_global(X, true_labels=y)
    assert not hasattr(pfi, "expected_values") and pfi.eval_y_predicted is None


def test_get_raw_explanation_sums_engineered_values_by_the_maps(iris, svc_explainer):
    engineered = svc_explainer.explain_global(iris["x_test"])
    fmap = np.array([[1, 1, 0, 0], [0, 0, 1, 1]])  # sepal <- columns 0, 1; petal <- 2, 3
    raw = engineered.get_raw_explanation([fmap], raw_feature_names=["sepal", "petal"])
    local = np.array(engineered.local_importance_values)
    folded = np.array(raw.local_importance_values)
    assert np.allclose(folded, local @ fmap.T)
    assert np.allclose(raw.global_importance_values, np.abs(folded).mean(axis=1).mean(axis=0))
    assert raw.is_raw and not raw.is_engineered and engineered.is_engineered
    assert raw.features == ["sepal", "petal"] and raw.expected_values == engineered.expected_values
    assert raw.eval_data is None and raw.eval_y_predicted is not None


def test_many_to_many_transformations_need_allow_all_transformations(iris):
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA

    frame = pd.DataFrame(iris["x_train"], columns=iris["features"])
    pca = ColumnTransformer(
        [("pca", PCA(n_components=2), iris["features"][:2]), ("rest", "passthrough", iris["features"][2:])]
    )
    inner = LogisticRegression(max_iter=500).fit(pca.fit_transform(frame), iris["y_train"])
    with pytest.raises(CompatValueError, match="allow_all_transformations"):
        TabularExplainer(inner, frame, transformations=pca)
    explainer = TabularExplainer(inner, frame, transformations=pca, allow_all_transformations=True)
    raw = explainer.explain_local(pd.DataFrame(iris["x_test"], columns=iris["features"]))
    engineered = explainer.explain_local(
        pd.DataFrame(iris["x_test"], columns=iris["features"]), level="engineered"
    )
    raw_values, eng_values = (
        np.array(raw.local_importance_values),
        np.array(engineered.local_importance_values),
    )
    # each PCA component is split equally between its two raw columns; the rest pass through
    assert np.allclose(raw_values[..., 0], eng_values[..., :2].sum(axis=-1) / 2)
    assert np.allclose(raw_values[..., 2:], eng_values[..., 2:])


def test_mimic_explain_global_without_rows(iris):
    explainer = MimicExplainer(iris["model"], iris["x_train"], LGBMExplainableModel, augment_data=False)
    explanation = explainer.explain_global()
    assert explanation.method == "mimic.lightgbm" and not hasattr(explanation, "local_importance_values")
    assert len(explanation.global_importance_values) == 4


def test_a_classifier_with_only_predict_explains_its_label(iris):
    class LabelsOnly:
        def __init__(self, model):
            self.model = model

        def predict(self, X):
            return self.model.predict(X)

    explainer = TabularExplainer(LabelsOnly(iris["model"]), iris["x_train"], model_task="classification")
    explanation = explainer.explain_local(iris["x_test"])
    values = np.array(explanation.local_importance_values)
    assert values.shape == (1, 8, 4) and explanation.num_classes == 1
    assert np.allclose(
        values[0].sum(axis=1) + explanation.expected_values[0], iris["model"].predict(iris["x_test"])
    )


def test_a_shap_kmeans_summary_as_initialization_examples(iris, svc_explainer):
    summary = shap.kmeans(iris["x_train"], 10)
    from_summary = TabularExplainer(
        iris["model"], summary, features=iris["features"], classes=iris["classes"]
    )
    values = np.array(from_summary.explain_local(iris["x_test"]).local_importance_values)
    reference = np.array(svc_explainer.explain_local(iris["x_test"]).local_importance_values)
    assert np.allclose(values, reference, atol=1e-6)


def test_pandas_category_columns_are_explained_through_their_codes():
    from lightgbm import LGBMClassifier

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"a": rng.normal(size=200), "city": pd.Categorical(rng.choice(["x", "y", "z"], 200))}
    )
    y = ((frame["a"] > 0) ^ (frame["city"] == "z")).astype(int)
    model = LGBMClassifier(n_estimators=20, verbose=-1).fit(frame, y)
    explanation = TabularExplainer(model, frame, classes=["no", "yes"]).explain_local(frame.iloc[:5])
    values = np.array(explanation.local_importance_values)
    assert values.shape == (2, 5, 2) and explanation.features == ["a", "city"]
    proba = model.predict_proba(frame.iloc[:5])
    assert np.allclose(values.sum(axis=2).T + explanation.expected_values, proba, atol=1e-6)
    assert np.abs(values[1, :, 1]).mean() > 0.01  # the category column matters, as the model says
