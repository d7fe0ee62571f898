"""The reference design's documented breast-cancer walkthrough, run on scoring.compat with only
the imports changed (plus a smaller explanation budget and fewer test rows, to stay fast), and
its results checked for meaning: rankings ordered by value, local values adding up to the model's
output, global importance = mean |local|, permutation importance putting noise last."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring.compat import (
    DecisionTreeExplainableModel,
    DirectoryExistsError,
    GlobalExplanation,
    KernelScoringExplainer,
    LGBMExplainableModel,
    LinearExplainableModel,
    LinearScoringExplainer,
    MimicExplainer,
    PFIExplainer,
    SGDExplainableModel,
    ShapValuesOutput,
    TabularExplainer,
    TreeScoringExplainer,
    UnsupportedExplanationError,
    load,
    save,
)
from scoring.errors import ValidationError
from scoring.mapper import ColumnMapper

BUDGET = 128  # coalitions per row for the kernel explainer (default 512)
N_TEST = 8  # explained rows of the SVC (the reference walkthrough explains all 114)


# -- the walkthrough's model ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def walkthrough():
    # load breast cancer dataset, a well-known small dataset that comes with scikit-learn
    from sklearn import svm

    breast_cancer_data = load_breast_cancer()
    classes = breast_cancer_data.target_names.tolist()
    # split data into train and test
    x_train, x_test, y_train, y_test = train_test_split(
        breast_cancer_data.data, breast_cancer_data.target, test_size=0.2, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # SVC(probability=True) is deprecated in sklearn 1.9
        clf = svm.SVC(gamma=0.001, C=100.0, probability=True)
        model = clf.fit(x_train, y_train)
    return {
        "data": breast_cancer_data,
        "classes": classes,
        "x_train": x_train,
        "x_test": x_test[:N_TEST],
        "y_train": y_train,
        "y_test": y_test[:N_TEST],
        "model": model,
    }


@pytest.fixture(scope="module")
def tabular(walkthrough):
    w = walkthrough
    # "features" and "classes" fields are optional. `auto` would fit the amortized explainer for
    # this SVC (about a minute; tests/scoring/test_choice.py covers that): kernel here keeps it quick
    return TabularExplainer(
        w["model"],
        w["x_train"],
        features=w["data"].feature_names,
        classes=w["classes"],
        method="kernel",
        budget=BUDGET,
    )


def assert_ranked(names, values, features, importance):
    """Ranked values never increase, and each name sits beside its own value."""
    assert list(values) == sorted(values, reverse=True)
    assert sorted(names) == sorted(features)
    lookup = dict(zip(features, importance, strict=True))
    assert [lookup[n] for n in names] == pytest.approx(list(values))


# -- TabularExplainer ------------------------------------------------------------------------------
def test_tabular_global_explanation(walkthrough, tabular):
    x_test = walkthrough["x_test"]
    features = list(walkthrough["data"].feature_names)
    global_explanation = tabular.explain_global(x_test)

    sorted_global_importance_values = global_explanation.get_ranked_global_values()
    sorted_global_importance_names = global_explanation.get_ranked_global_names()
    ranked = dict(zip(sorted_global_importance_names, sorted_global_importance_values, strict=True))
    assert ranked == global_explanation.get_feature_importance_dict()
    assert list(global_explanation.get_feature_importance_dict(top_k=4)) == sorted_global_importance_names[:4]

    assert global_explanation.method == "shap.kernel" and global_explanation.space == "probability"
    assert global_explanation.features == features
    assert global_explanation.classes == ["malignant", "benign"]
    assert_ranked(
        sorted_global_importance_names,
        sorted_global_importance_values,
        features,
        global_explanation.global_importance_values,
    )
    # the reference design's aggregate: mean |local| over rows per class, then over classes
    local = np.array(global_explanation.local_importance_values)  # (classes, rows, features)
    assert local.shape == (2, N_TEST, 30)
    per_class = np.abs(local).mean(axis=1)
    assert np.allclose(global_explanation.per_class_values, per_class)
    assert np.allclose(global_explanation.global_importance_values, per_class.mean(axis=0))
    for k, (names, values) in enumerate(
        zip(
            global_explanation.get_ranked_per_class_names(),
            global_explanation.get_ranked_per_class_values(),
            strict=True,
        )
    ):
        assert_ranked(names, values, features, per_class[k])


def test_tabular_local_explanation_adds_up_to_the_model_output(walkthrough, tabular):
    x_test, model = walkthrough["x_test"], walkthrough["model"]
    # get explanation for the first data point in the test set
    local_explanation = tabular.explain_local(x_test[0:5])

    sorted_local_importance_names = local_explanation.get_ranked_local_names()
    sorted_local_importance_values = local_explanation.get_ranked_local_values()

    values = np.array(local_explanation.local_importance_values)
    assert values.shape == (2, 5, 30)
    expected = np.array(local_explanation.expected_values)
    proba = model.predict_proba(x_test[0:5])
    # each row's values add up to the model's probability minus the expected value, per class
    assert np.allclose(values.sum(axis=2).T, proba - expected[None, :], atol=1e-9)
    features = local_explanation.features
    for k in range(2):
        for i in range(5):
            assert_ranked(
                sorted_local_importance_names[k][i],
                sorted_local_importance_values[k][i],
                features,
                values[k, i],
            )
    assert np.array(local_explanation.get_ranked_local_names(top_k=3)).shape == (2, 5, 3)
    # the engine's own object says what was explained, with an error estimate for sampled values
    assert local_explanation.explanation.error is not None


def test_tabular_picks_linear_and_tree_models(walkthrough):
    w = walkthrough
    x_train, y_train, x_test = w["x_train"], w["y_train"], w["x_test"]
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    linear = LogisticRegression().fit(x_train, y_train)
    explanation = TabularExplainer(linear, x_train, classes=w["classes"]).explain_local(x_test)
    assert (explanation.method, explanation.space) == ("shap.linear", "log_odds")
    values = np.array(explanation.local_importance_values)
    margin = linear.decision_function(x_test)
    assert np.allclose(values[1].sum(axis=1) + explanation.expected_values[1], margin)

    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x_train, y_train)
    explanation = TabularExplainer(forest, x_train).explain_local(x_test)
    assert (explanation.method, explanation.space) == ("shap.tree", "probability")
    values = np.array(explanation.local_importance_values)
    proba = forest.predict_proba(x_test)
    assert np.allclose(values.sum(axis=2).T + np.array(explanation.expected_values), proba)


def test_regression_keeps_the_documented_two_dimensional_shape():
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge

    X, y = make_regression(n_samples=80, n_features=5, random_state=0)
    model = Ridge().fit(X, y)
    explanation = TabularExplainer(model, X).explain_global(X[:6])
    values = np.array(explanation.local_importance_values)
    assert values.shape == (6, 5)
    assert not hasattr(explanation, "classes") and len(explanation.expected_values) == 1
    assert np.allclose(values.sum(axis=1) + explanation.expected_values[0], model.predict(X[:6]))
    assert np.allclose(explanation.global_importance_values, np.abs(values).mean(axis=0))
    with pytest.raises(AttributeError, match="per-class"):
        explanation.get_ranked_per_class_names()


# -- MimicExplainer --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "explainable_model",
    [LGBMExplainableModel, LinearExplainableModel, SGDExplainableModel, DecisionTreeExplainableModel],
)
def test_mimic_explainer_reports_fidelity(walkthrough, explainable_model):
    w = walkthrough
    x_train, x_test, model = w["x_train"], w["x_test"], w["model"]
    # augment_data is optional and if true, oversamples the initialization examples to improve
    # surrogate model accuracy to fit original model.
    explainer = MimicExplainer(
        model,
        x_train,
        explainable_model,
        augment_data=True,
        max_num_of_augmentations=10,
        features=w["data"].feature_names,
        classes=w["classes"],
        shap_values_output=ShapValuesOutput.PROBABILITY,
    )
    n_fit = len(x_train) - round(0.2 * len(x_train))
    assert explainer.n_training_rows_ == 11 * n_fit  # the rows and 10 noisy copies
    assert -1.0 < explainer.fidelity_ <= 1.0
    if explainable_model is LGBMExplainableModel:  # boosted trees follow the SVC closely
        assert explainer.fidelity_ > 0.6
        assert explainer.fidelity_report_["heldout_label_agreement"] > 0.85
    global_explanation = explainer.explain_global(x_test)
    assert global_explanation.method == explainable_model.method and global_explanation.space == "probability"

    fidelity = global_explanation.fidelity
    assert fidelity["surrogate"] == explainable_model.__name__
    assert fidelity["heldout_r2"] == explainer.fidelity_ and fidelity["heldout_rows"] == len(x_train) - n_fit
    # the fidelity on the explained rows is the surrogate's R² against the model's probabilities
    surrogate = global_explanation.explanation.outputs
    proba = model.predict_proba(x_test)
    assert fidelity["evaluation_r2"] == pytest.approx(r2_score(proba[:, 1], surrogate[:, 1]))
    assert np.allclose(surrogate.sum(axis=1), 1.0)

    # additivity holds for the surrogate's output, which fidelity relates to the model's
    values = np.array(global_explanation.local_importance_values)
    assert np.allclose(values.sum(axis=2).T + np.array(global_explanation.expected_values), surrogate)
    assert np.allclose(global_explanation.global_importance_values, np.abs(values).mean(axis=(0, 1)))
    features = list(w["data"].feature_names)
    assert_ranked(
        global_explanation.get_ranked_global_names(),
        global_explanation.get_ranked_global_values(),
        features,
        global_explanation.global_importance_values,
    )


def test_mimic_rejects_a_foreign_surrogate(walkthrough):
    with pytest.raises(ValidationError, match="explainable_model"):
        MimicExplainer(walkthrough["model"], walkthrough["x_train"], RandomForestClassifier)


def test_linear_surrogates_state_the_standardized_fit_over_the_original_columns():
    from sklearn.linear_model import LinearRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)) * [1.0, 100.0, 0.01] + [0.0, 50.0, 3.0]
    y = X @ [1.0, 0.01, 100.0] + rng.normal(scale=0.1, size=300)
    linear = LinearExplainableModel.fit_regressor(X, y, args={}, seed=0)
    assert isinstance(linear, LinearRegression)
    reference = LinearRegression().fit(X, y)
    assert np.allclose(linear.predict(X), reference.predict(X))
    sgd = SGDExplainableModel.fit_regressor(X, y, args={}, seed=0)
    assert isinstance(sgd, LinearRegression) and r2_score(y, sgd.predict(X)) > 0.9


def test_augment_adds_noisy_copies_of_numeric_columns_only():
    from scoring.compat.mimic import augment

    frame = pd.DataFrame(
        {"x": np.linspace(0.0, 10.0, 20), "flag": [0, 1] * 10, "colour": ["red", "blue"] * 10}
    )
    out = augment(frame, 3, seed=0)
    assert len(out) == 4 * len(frame)
    assert out.iloc[:20].equals(frame)
    copies = out.iloc[20:].reset_index(drop=True)
    assert list(copies["flag"]) == [0, 1] * 30 and list(copies["colour"]) == ["red", "blue"] * 30
    shift = copies["x"].to_numpy() - np.tile(frame["x"].to_numpy(), 3)
    assert 0 < np.std(shift) < 0.2 * frame["x"].std()
    assert augment(frame.to_numpy()[:, :1].astype(float), 2).shape == (60, 1)


# -- PFIExplainer ----------------------------------------------------------------------------------
def test_pfi_explainer_global_only(walkthrough):
    w = walkthrough
    explainer = PFIExplainer(w["model"], features=w["data"].feature_names, classes=w["classes"], n_repeats=3)
    # if you used the PFIExplainer in the previous step, use the next line of code instead
    global_explanation = explainer.explain_global(w["x_train"][:120], true_labels=w["y_train"][:120])
    assert global_explanation.method == "pfi" and global_explanation.metric == "f1_score"
    assert_ranked(
        global_explanation.get_ranked_global_names(),
        global_explanation.get_ranked_global_values(),
        list(w["data"].feature_names),
        global_explanation.global_importance_values,
    )
    assert not hasattr(global_explanation, "expected_values")  # the reference's AttributeError
    assert len(global_explanation.global_importance_stderr) == 30
    with pytest.raises(AttributeError, match="no local values"):
        _ = global_explanation.local_importance_values
    with pytest.raises(UnsupportedExplanationError, match="global importances only"):
        explainer.explain_local(w["x_test"])


def test_pfi_ranks_a_pure_noise_feature_last():
    data = load_breast_cancer(as_frame=True)
    columns = ["worst area", "worst concave points", "mean texture", "worst smoothness"]
    X = data.data[columns].assign(noise=np.random.default_rng(0).normal(size=len(data.data)))
    x_train, _, y_train, _ = train_test_split(X, data.target, test_size=0.2, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x_train, y_train)
    explainer = PFIExplainer(model, metric="log_loss", for_classifier_use_predict_proba=True, n_repeats=5)
    explanation = explainer.explain_global(x_train, true_labels=y_train)
    names = explanation.get_ranked_global_names()
    assert names[-1] == "noise"
    values = explanation.get_feature_importance_dict()
    assert all(values[c] > 0 for c in columns)
    assert abs(values["noise"]) < 3 * explanation.global_importance_stderr[-1] + 1e-3


# -- raw features through transformations ----------------------------------------------------------
@pytest.fixture(scope="module")
def raw_data():
    data = load_breast_cancer(as_frame=True)
    X = data.data[["mean radius", "mean texture", "worst smoothness"]].copy()
    X["size"] = pd.cut(data.data["worst area"], [0, 500, 1000, np.inf], labels=["small", "medium", "large"])
    X["size"] = X["size"].astype(str)
    X.loc[::17, "mean texture"] = np.nan
    x_train, x_test, y_train, y_test = train_test_split(X, data.target, test_size=0.2, random_state=0)
    return x_train, x_test, y_train, y_test


NUMERIC = ["mean radius", "mean texture", "worst smoothness"]
CATEGORICAL = ["size"]


@pytest.fixture(scope="module")
def raw_pipeline(raw_data):
    x_train, _, y_train, _ = raw_data
    numeric_transformer = Pipeline(
        steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]
    )
    categorical_transformer = Pipeline(
        steps=[
            ("imputer", SimpleImputer(strategy="constant", fill_value="missing")),
            ("onehot", OneHotEncoder(handle_unknown="ignore")),
        ]
    )
    preprocessor = ColumnTransformer(
        transformers=[("num", numeric_transformer, NUMERIC), ("cat", categorical_transformer, CATEGORICAL)]
    )
    # append classifier to preprocessing pipeline.
    clf = Pipeline(steps=[("preprocessor", preprocessor), ("classifier", LogisticRegression(solver="lbfgs"))])
    clf.fit(x_train, y_train)
    return clf, preprocessor


def test_raw_features_through_a_column_transformer(raw_data, raw_pipeline):
    x_train, x_test, _, _ = raw_data
    clf, preprocessor = raw_pipeline
    # clf.steps[-1][1] returns the trained classification model
    # pass transformation as an input to create the explanation object
    tabular_explainer = TabularExplainer(
        clf.steps[-1][1],
        initialization_examples=x_train,
        features=list(x_train.columns),
        classes=["malignant", "benign"],
        transformations=preprocessor,
    )
    raw = tabular_explainer.explain_local(x_test[:6])
    assert raw.is_raw and raw.features == list(x_train.columns)
    values = np.array(raw.local_importance_values)
    assert values.shape == (2, 6, 4)
    # raw values add up to the whole pipeline's margin
    margin = clf.decision_function(x_test[:6])
    assert np.allclose(values[1].sum(axis=1) + raw.expected_values[1], margin)

    engineered = tabular_explainer.explain_local(x_test[:6], level="engineered")
    assert engineered.is_engineered and len(engineered.features) == 6  # 3 numbers + 3 one-hot columns
    eng = np.array(engineered.local_importance_values)
    onehot = [j for j, name in enumerate(engineered.features) if name.startswith("cat__size")]
    assert np.allclose(values[:, :, 3], eng[:, :, onehot].sum(axis=2))

    global_explanation = tabular_explainer.explain_global(x_test)
    raw_local = np.array(global_explanation.local_importance_values)
    assert np.allclose(global_explanation.global_importance_values, np.abs(raw_local).mean(axis=(0, 1)))
    assert set(global_explanation.get_ranked_global_names()) == set(x_train.columns)


def test_raw_features_through_transformer_tuples(raw_data):
    x_train, x_test, y_train, _ = raw_data
    numeric_transformations = [
        ([f], Pipeline(steps=[("imputer", SimpleImputer(strategy="median")), ("scaler", StandardScaler())]))
        for f in NUMERIC
    ]
    categorical_transformations = [
        ([f], OneHotEncoder(handle_unknown="ignore", sparse_output=False)) for f in CATEGORICAL
    ]
    transformations = numeric_transformations + categorical_transformations
    clf = Pipeline(
        steps=[("preprocessor", ColumnMapper(transformations)), ("classifier", LogisticRegression())]
    )
    clf.fit(x_train, y_train)

    # as sklearn-pandas' DataFrameMapper, ColumnMapper fits the listed transformers in place
    explainer = TabularExplainer(
        clf.steps[-1][1], initialization_examples=x_train, transformations=transformations
    )
    explanation = explainer.explain_local(x_test[:4])
    assert explanation.features == list(x_train.columns)
    values = np.array(explanation.local_importance_values)
    assert np.allclose(
        values[1].sum(axis=1) + explanation.expected_values[1], clf.decision_function(x_test[:4])
    )

    unfitted = [([f], StandardScaler()) for f in NUMERIC]
    with pytest.raises(ValidationError, match="not fitted"):
        TabularExplainer(clf.steps[-1][1], initialization_examples=x_train, transformations=unfitted)


def test_transformations_that_mix_columns_are_refused(raw_data):
    from sklearn.decomposition import PCA

    x_train, _, y_train, _ = raw_data
    numbers = x_train[NUMERIC].fillna(0.0)
    pca = ColumnTransformer([("pca", PCA(n_components=2), NUMERIC)]).fit(numbers)
    model = LogisticRegression().fit(pca.transform(numbers), y_train)
    with pytest.raises(ValidationError, match="mixes several raw columns"):
        TabularExplainer(model, numbers, transformations=pca)


# -- scoring explainers ----------------------------------------------------------------------------
def test_kernel_scoring_explainer_save_load_explain(walkthrough, tabular, tmp_path):
    x_test, model = walkthrough["x_test"], walkthrough["model"]
    # create a lightweight explainer at scoring time
    scoring_explainer = KernelScoringExplainer(tabular, budget=BUDGET)
    OUTPUT_DIR = tmp_path / "my_directory"
    path = save(scoring_explainer, directory=OUTPUT_DIR, exist_ok=True)
    assert (Path(path) / "manifest.json").is_file() and not list(Path(path).rglob("*.pkl"))
    with pytest.raises(DirectoryExistsError):
        save(scoring_explainer, directory=OUTPUT_DIR)

    # load scoring explainer from disk
    loaded = load(OUTPUT_DIR)
    assert isinstance(loaded, KernelScoringExplainer)
    # test scoring explainer locally
    preds = loaded.explain(x_test)
    assert np.array(preds).shape == (2, N_TEST, 30)
    assert json.loads(json.dumps({"local_importance_values": preds}))  # JSON-serializable, as documented
    assert np.allclose(preds, scoring_explainer.explain(x_test))
    explanation = loaded.explanation(x_test)
    assert explanation.method == "kernel" and explanation.feature_names == tuple(
        walkthrough["data"].feature_names
    )
    assert np.allclose(explanation.values.sum(axis=1) + explanation.base_values, model.predict_proba(x_test))


def test_scoring_explainers_with_transformations(raw_data, raw_pipeline, tmp_path):
    x_train, x_test, _, _ = raw_data
    clf, preprocessor = raw_pipeline
    explainer = TabularExplainer(clf.steps[-1][1], x_train, transformations=preprocessor)
    for scoring_explainer in (
        LinearScoringExplainer(explainer),
        KernelScoringExplainer(explainer, budget=64),
    ):
        raw = np.array(scoring_explainer.explain(x_test[:3]))
        engineered = np.array(scoring_explainer.explain(x_test[:3], get_raw=False))
        assert raw.shape == (2, 3, 4) and engineered.shape == (2, 3, 6)
        assert np.allclose(raw.sum(axis=2), engineered.sum(axis=2))
        loaded = load(save(scoring_explainer, tmp_path / scoring_explainer.method, exist_ok=True))
        assert type(loaded) is type(scoring_explainer)
        assert np.allclose(loaded.explain(x_test[:3]), raw)
        assert loaded.features == list(x_train.columns)
    with pytest.raises(Exception, match="tree"):
        TreeScoringExplainer(explainer)


# -- serialization and top-k -----------------------------------------------------------------------
def test_global_explanation_json_round_trip_and_top_k(walkthrough, tabular):
    explanation = tabular.explain_global(walkthrough["x_test"][:4])
    doc = json.loads(json.dumps(explanation.to_json()))
    back = GlobalExplanation.from_json(doc)
    assert back.get_feature_importance_dict() == pytest.approx(explanation.get_feature_importance_dict())
    assert np.allclose(back.local_importance_values, explanation.local_importance_values)
    assert back.expected_values == pytest.approx(explanation.expected_values)
    assert (back.id, back.method, back.space, back.classes) == (
        explanation.id,
        explanation.method,
        explanation.space,
        explanation.classes,
    )

    top = GlobalExplanation.from_json(doc, top_k=3)
    assert top.get_ranked_global_names() == explanation.get_ranked_global_names(top_k=3)
    assert top.global_importance_values == pytest.approx(explanation.get_ranked_global_values(top_k=3))
    assert top.get_ranked_per_class_names() == explanation.get_ranked_per_class_names(top_k=3)
    assert top.local is None and top.top_k == 3
    with pytest.raises(AttributeError, match="top 3"):
        _ = top.local_importance_values
    assert explanation.to_json(top_k=2)["features"] == explanation.get_ranked_global_names(top_k=2)
    with pytest.raises(ValidationError, match="top_k"):
        explanation.get_ranked_global_names(top_k=0)
