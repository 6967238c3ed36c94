/* The navigation's menus (details/summary): one open at a time, closed by a click outside or Escape. */
(function () {
  var menus = Array.prototype.slice.call(document.querySelectorAll('details.nav-menu'));
  menus.forEach(function (menu) {
    menu.addEventListener('toggle', function () {
      if (!menu.open) { return; }
      menus.forEach(function (other) { if (other !== menu) { other.open = false; } });
    });
  });
  document.addEventListener('click', function (event) {
    menus.forEach(function (menu) { if (menu.open && !menu.contains(event.target)) { menu.open = false; } });
  });
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape') { return; }
    menus.forEach(function (menu) {
      if (menu.open) { menu.open = false; menu.querySelector('summary').focus(); }
    });
  });
})();
