"""Uploading global explanations beside a bundle in a real (temporary) model store, listing them
and downloading them back, whole or top-k: the reference design's run-history workflow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

import training
from scoring.compat import LinearScoringExplainer, TabularExplainer
from scoring.errors import ValidationError
from training.explanations import ExplanationClient, ExplanationNotFoundError

ALL = "global explanation: all features"
TOP_2 = "global explanation: Only top 2 features"


@pytest.fixture(scope="module")
def explained():
    data = load_breast_cancer()
    x_train, x_test, y_train, _ = train_test_split(data.data, data.target, test_size=0.2, random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    model = LogisticRegression().fit(x_train, y_train)
    features = list(data.feature_names)
    explainer = TabularExplainer(model, x_train, features=features, classes=data.target_names.tolist())
    return explainer, x_test, features


def test_upload_list_download(bentoml_home, explained):
    explainer, x_test, features = explained
    global_explanation = explainer.explain_global(x_test[:30])

    # one call packages the scoring explainer for the service
    tag, _ = training.save_to_store("breast_cancer", LinearScoringExplainer(explainer).to_bundle())
    served = training.load_from_store(tag).explain(pd.DataFrame(x_test[:3], columns=features))
    assert np.allclose(served.values, global_explanation.explanation.values[:3])

    client = ExplanationClient.from_bundle("breast_cancer")
    assert client.bundle_tag == tag
    assert client.list_model_explanations() == []
    full_tag = client.upload_model_explanation(global_explanation, comment=ALL)
    client.upload_model_explanation(global_explanation, top_k=2, comment=TOP_2)

    listed = client.list_model_explanations()
    assert [(e["comment"], e["top_k"], e["has_local"]) for e in listed] == [
        (TOP_2, 2, False),
        (ALL, None, True),
    ]
    assert listed[1]["tag"] == full_tag and listed[1]["id"] == global_explanation.id
    assert client.list_model_explanations(comment=ALL) == [listed[1]]

    # the newest upload: only the top 2 features
    explanation = client.download_model_explanation()
    assert explanation.get_ranked_global_names() == global_explanation.get_ranked_global_names(top_k=2)
    assert explanation.get_ranked_global_values() == pytest.approx(
        global_explanation.get_ranked_global_values(top_k=2)
    )
    # a top-k upload cannot be widened on download
    assert len(client.download_model_explanation(top_k=4).get_ranked_global_names()) == 2

    # the whole explanation comes back as it went up, local values and all
    whole = client.download_model_explanation(full_tag)
    assert whole.get_feature_importance_dict() == pytest.approx(
        global_explanation.get_feature_importance_dict()
    )
    assert np.allclose(whole.per_class_values, global_explanation.per_class_values)
    assert np.allclose(whole.local_importance_values, global_explanation.local_importance_values)
    assert whole.expected_values == pytest.approx(global_explanation.expected_values)
    assert (whole.method, whole.space, whole.classes) == ("shap.linear", "log_odds", ["malignant", "benign"])
    assert client.download_model_explanation(global_explanation.id).id == global_explanation.id

    # or only its top 4 features
    top_4 = client.download_model_explanation(top_k=4, comment=ALL)
    assert top_4.get_feature_importance_dict() == pytest.approx(
        global_explanation.get_feature_importance_dict(top_k=4)
    )
    assert top_4.get_ranked_per_class_names() == global_explanation.get_ranked_per_class_names(top_k=4)

    with pytest.raises(ExplanationNotFoundError, match="no explanation"):
        client.download_model_explanation(comment="never uploaded")

    # explanations belong to one bundle version: a new version starts with none
    new_tag, _ = training.save_to_store("breast_cancer", LinearScoringExplainer(explainer).to_bundle())
    newer = ExplanationClient.from_bundle("breast_cancer")
    assert newer.bundle_tag == new_tag != tag
    assert newer.list_model_explanations() == []
    assert len(ExplanationClient(tag).list_model_explanations()) == 2


def test_from_run_takes_what_a_migrating_user_holds(bentoml_home, explained):
    """`ExplanationClient.from_run(run)`: a run is one trained bundle version, given as what
    save_to_store returned, its tag, a bentoml Tag or Model, or a name (its latest version)."""
    import bentoml

    explainer, x_test, _ = explained
    global_explanation = explainer.explain_global(x_test[:10])
    run = training.save_to_store("breast_cancer", LinearScoringExplainer(explainer).to_bundle())
    tag = run[0]
    uploaded = ExplanationClient.from_run(run).upload_model_explanation(global_explanation, comment=ALL)
    later = training.save_to_store("breast_cancer", LinearScoringExplainer(explainer).to_bundle())

    for same_run in (run, tag, bentoml.Tag.from_taglike(tag), bentoml.models.get(tag)):
        client = ExplanationClient.from_run(same_run)
        assert client.bundle_tag == tag
        assert [e["tag"] for e in client.list_model_explanations()] == [uploaded]
        downloaded = client.download_model_explanation(comment=ALL)
        assert downloaded.get_feature_importance_dict() == pytest.approx(
            global_explanation.get_feature_importance_dict()
        )
    # a bare name is its latest version, which has no explanation yet
    assert ExplanationClient.from_run("breast_cancer").bundle_tag == later[0] != tag
    assert ExplanationClient.from_run("breast_cancer").list_model_explanations() == []

    with pytest.raises(ExplanationNotFoundError, match="no bundle 'no_such_bundle:v1'"):
        ExplanationClient.from_run("no_such_bundle:v1")
    with pytest.raises(ValidationError, match="Azure ML Run has no counterpart"):
        ExplanationClient.from_run(object())
