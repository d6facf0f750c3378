"""Stand-ins for the services qabot talks to, as real servers on loopback: an OpenAI-compatible chat
model (`fake_openai`) and the Telegram Bot API (`telegram_standin`). Tests and benchmarks use them."""
