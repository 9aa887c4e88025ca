"""The matching demo: posts of the demo producers and buyers, cleared by one round, loaded once."""

from __future__ import annotations

from sqlmodel import Session, select

from market import demo as market_demo
from matching import demo
from matching.models import ClearingRound, MarketPost, MatchExplanation, MatchProposal


def test_the_demo_posts_clear_into_proposals_and_explanations_once(db: Session) -> None:
    market_demo.load()
    [line] = demo.load_demo()
    assert "clearing round" in line
    assert len(db.exec(select(MarketPost)).all()) == len(demo.SUPPLY) + len(demo.DEMAND)
    [record] = db.exec(select(ClearingRound)).all()
    assert record.proposals >= 3 and record.welfare_vnd > 0
    assert len(db.exec(select(MatchProposal)).all()) == record.proposals
    # the glutinous-rice bakery wants grade 3 within 10 km: nobody near enough is told why
    reasons = {e.reason for e in db.exec(select(MatchExplanation))}
    assert "no_counterparty" in reasons
    assert demo.load_demo() == []
