// The card form of the pay page (web/pages/cards.py). Card details go to Stripe.js only;
// this script sends Choso the payment method id that Stripe.js makes of them.
(function () {
  "use strict";

  const autosubmit = document.querySelector("form[data-autosubmit]");
  if (autosubmit) {
    autosubmit.submit();
    return;
  }
  const root = document.getElementById("card-payment");
  const form = document.getElementById("card-form");
  if (!root || !form || typeof Stripe === "undefined") {
    return;
  }
  const stripe = Stripe(root.dataset.publishableKey);
  const card = stripe.elements().create("card");
  card.mount("#card-element");
  const button = form.querySelector("button");
  const message = document.getElementById("card-message");

  function show(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  async function paymentMethod() {
    // Stripe.js makes a payment method; localstripe's stand-in (the sandbox) only a token's card.
    const made = await stripe.createPaymentMethod({ type: "card", card: card });
    if (made && made.paymentMethod) {
      return made.paymentMethod.id;
    }
    if (made && made.error) {
      throw new Error(made.error.message || root.dataset.failed);
    }
    const tokened = await stripe.createToken(card);
    if (tokened.error || !tokened.token) {
      throw new Error((tokened.error && tokened.error.message) || root.dataset.failed);
    }
    return tokened.token.card.id;
  }

  async function confirm(method) {
    const answer = await fetch(root.dataset.confirmUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": root.dataset.csrf },
      body: JSON.stringify({ payment_method: method }),
    });
    const result = await answer.json().catch(function () { return {}; });
    if (answer.status === 402) {
      window.location.reload();  // declined: the page offers another card
    }
    if (!answer.ok) {
      throw new Error(result.message || root.dataset.failed);
    }
    return result;
  }

  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    button.disabled = true;
    show(root.dataset.working);
    try {
      const result = await confirm(await paymentMethod());
      if (result.status === "requires_action") {
        await stripe.confirmCardPayment(result.client_secret);  // authentication (3-D Secure)
      }
      window.location.assign(result.next || root.dataset.returnUrl);
    } catch (error) {
      show(error.message || root.dataset.failed);
      button.disabled = false;
    }
  });
})();
