// Card payment: Stripe.js tokenises the card in the browser; the form posts only the token.
(function () {
  var key = document.currentScript.dataset.key;
  var form = document.getElementById("card-form");
  if (!form || typeof Stripe === "undefined") return;
  var stripe = Stripe(key);
  var card = stripe.elements().create("card");
  card.mount("#card-element");
  form.addEventListener("submit", function (event) {
    if (document.getElementById("card-token").value) return;
    event.preventDefault();
    document.getElementById("card-pay").disabled = true;
    stripe.createToken(card).then(function (result) {
      if (result.error) {
        document.getElementById("card-error").textContent = result.error.message || String(result.error);
        document.getElementById("card-pay").disabled = false;
        return;
      }
      document.getElementById("card-token").value = result.token.id;
      form.submit();
    });
  });
})();
