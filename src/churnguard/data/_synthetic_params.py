"""Parameters of the synthetic customer generator, derived from the IBM Telco churn data.

Every number here was computed once, by hand, from the IBM Telco Customer Churn sample data
(7,043 customers) with a throwaway script; the product never reads that file. Probabilities are
empirical conditional frequencies, the tenure shapes are method-of-moments Beta fits, the service
and churn curves are (unpenalised) logistic regressions and the price list is a least-squares fit.

Category codes index the value tuples of ``churnguard.data.schema.CATEGORIES``, e.g. Contract
0 = "Month-to-month", 1 = "One year", 2 = "Two year"; InternetService 0 = "DSL",
1 = "Fiber optic", 2 = "No"; yes/no columns 0 = "No", 1 = "Yes".
"""

from __future__ import annotations

from typing import Final

#: P(gender) over ("Female", "Male").
GENDER_PROBS: Final = (0.4952, 0.5048)
#: P(SeniorCitizen == 1).
SENIOR_PROB: Final = 0.1621
#: P(Partner) over ("No", "Yes"); rows: SeniorCitizen 0, 1.
PARTNER_PROBS_BY_SENIOR: Final = ((0.5206, 0.4794), (0.4982, 0.5018))
#: P(Dependents) over ("No", "Yes"); rows: 2 * partner + senior.
DEPENDENTS_PROBS_BY_PARTNER_SENIOR: Final = (
    (0.8851, 0.1149),
    (0.9859, 0.0141),
    (0.4111, 0.5889),
    (0.8551, 0.1449),
)
#: P(Contract); rows: 2 * partner + senior.
CONTRACT_PROBS_BY_PARTNER_SENIOR: Final = (
    (0.6621, 0.1878, 0.1501),
    (0.8102, 0.1160, 0.0738),
    (0.3655, 0.2496, 0.3849),
    (0.6038, 0.2164, 0.1798),
)

#: Longest tenure in the data, in months.
TENURE_MAX_OBSERVED: Final = 72
#: P(tenure == 0) per contract: new customers exist only on one- and two-year contracts (11 rows).
NEW_CUSTOMER_PROB_BY_CONTRACT: Final = (0.0, 0.00068, 0.0059)
#: Beta(a, b) for the other customers, rows: 3 * contract + InternetService code; tenure =
#: ceil(72 * Beta), fitted by the method of moments to (tenure - 0.5) / 72 over tenure >= 1.
#: Month-to-month piles up at 1 month, two-year contracts at 72; within a contract, fibre customers
#: stay longest and customers without internet leave soonest.
TENURE_BETA_BY_CONTRACT_INTERNET: Final = (
    (0.4940, 1.8410),
    (0.5818, 1.4078),
    (0.4732, 3.4767),
    (1.7401, 1.3930),
    (2.5980, 1.0273),
    (1.1024, 1.6179),
    (1.7143, 0.3736),
    (3.5191, 0.3980),
    (1.1779, 0.5683),
)

#: P(PhoneService) over ("No", "Yes").
PHONE_PROBS: Final = (0.0968, 0.9032)
#: P(InternetService) for phone customers; rows: 3 * senior + contract. Customers without phone
#: service all have DSL in the data (row 6).
INTERNET_PROBS_BY_SENIOR_CONTRACT: Final = (
    (0.2768, 0.5384, 0.1848),
    (0.3371, 0.3606, 0.3023),
    (0.3062, 0.2555, 0.4383),
    (0.1099, 0.8736, 0.0165),
    (0.2090, 0.7006, 0.0904),
    (0.2857, 0.5338, 0.1805),
    (1.0, 0.0, 0.0),
)
#: P(MultipleLines == "Yes" | phone) = sigmoid(a + b * tenure / 72); rows: InternetService code.
MULTIPLE_LINES_LOGIT_BY_INTERNET: Final = ((-1.6415, 2.5062), (-0.5277, 2.4901), (-2.5862, 2.6642))
#: P(add-on == "Yes" | internet) = sigmoid(a + b * tenure / 72); rows: DSL, Fiber optic.
ADDON_LOGIT_BY_INTERNET: Final[dict[str, tuple[tuple[float, float], tuple[float, float]]]] = {
    "OnlineSecurity": ((-1.1918, 2.5073), (-2.4191, 2.7225)),
    "OnlineBackup": ((-1.3630, 2.4780), (-1.6697, 2.9586)),
    "DeviceProtection": ((-1.6142, 2.9152), (-1.4759, 2.6045)),
    "TechSupport": ((-1.1678, 2.4451), (-2.3474, 2.6866)),
    "StreamingTV": ((-1.4533, 2.1445), (-0.6444, 2.0640)),
    "StreamingMovies": ((-1.4163, 2.1644), (-0.6770, 2.1453)),
}
#: P(PaperlessBilling) over ("No", "Yes"); rows: InternetService code.
PAPERLESS_PROBS_BY_INTERNET: Final = ((0.4506, 0.5494), (0.2264, 0.7736), (0.7077, 0.2923))
#: P(PaymentMethod) over (bank transfer, credit card, electronic check, mailed check); rows: contract.
PAYMENT_PROBS_BY_CONTRACT: Final = (
    (0.1520, 0.1401, 0.4774, 0.2305),
    (0.2654, 0.2702, 0.2356, 0.2288),
    (0.3327, 0.3428, 0.0991, 0.2254),
)

#: Least-squares price list (R^2 = 0.999): MonthlyCharges = base + sum of the subscribed services.
MONTHLY_BASE: Final = -0.097
MONTHLY_PHONE: Final = 20.052
MONTHLY_MULTIPLE_LINES: Final = 5.012
#: Price of InternetService by code (DSL, Fiber optic, No).
MONTHLY_INTERNET: Final = (25.049, 50.006, 0.0)
MONTHLY_ADDON: Final[dict[str, float]] = {
    "OnlineSecurity": 5.013,
    "OnlineBackup": 4.991,
    "DeviceProtection": 5.021,
    "TechSupport": 5.029,
    "StreamingTV": 9.969,
    "StreamingMovies": 9.963,
}
#: Residual standard deviation of the price list.
MONTHLY_NOISE_SD: Final = 1.0256
#: Observed range of MonthlyCharges.
MONTHLY_OBSERVED_RANGE: Final = (18.25, 118.75)
#: TotalCharges = tenure * MonthlyCharges * exp(N(0, sigma^2 / tenure)) for tenure >= 2 (price
#: changes average out over a longer history); exactly MonthlyCharges at tenure 1.
TOTAL_LOG_RATIO_SIGMA: Final = 0.2017

#: Churn logistic regression fitted on the data (in-sample AUC 0.849). The intercept is not the
#: fitted -0.188 but was re-calibrated on 2,000,000 synthetic rows to give the observed churn rate.
CHURN_RATE: Final = 0.2654
CHURN_INTERCEPT: Final = -0.1520
#: Log-odds offset that keeps the synthetic churn rate at CHURN_RATE when the feature effects are
#: scaled by a drift (bisection on 2,000,000 synthetic rows per scale; linear in between, held
#: constant beyond 3).
CHURN_SCALE_GRID: Final = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0)
CHURN_SCALE_OFFSET: Final = (
    0.0018,
    0.1046,
    0.1266,
    0.0853,
    0.0,
    -0.2406,
    -0.5345,
    -0.8549,
    -1.1849,
)
CHURN_PER_LOG1P_TENURE: Final = -0.6586
CHURN_PER_100_MONTHLY_CHARGES: Final = 1.3769
CHURN_SENIOR: Final = 0.2647
#: Effect of each (column, value) indicator on the churn log-odds.
CHURN_INDICATORS: Final[dict[tuple[str, str], float]] = {
    ("Contract", "One year"): -0.6849,
    ("Contract", "Two year"): -1.6196,
    ("InternetService", "Fiber optic"): 0.4657,
    ("InternetService", "No"): -0.7507,
    ("PaymentMethod", "Electronic check"): 0.3789,
    ("PaperlessBilling", "Yes"): 0.3891,
    ("Partner", "Yes"): 0.0507,
    ("Dependents", "Yes"): -0.1580,
    ("OnlineSecurity", "Yes"): -0.4335,
    ("TechSupport", "Yes"): -0.3546,
}
