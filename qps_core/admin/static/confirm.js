// Forms with data-confirm ask before they are sent (the dead-letter buttons); without JavaScript they send at once.
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
